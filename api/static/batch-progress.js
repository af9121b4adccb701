// Live batch progress: polls the JSON API (GET /v1/batches/{id}) and updates the numbers on
// the page without reloading. Without JavaScript the page still shows the numbers as they
// were when it loaded, with a link to reload it.
const root = document.getElementById("batch-progress");

const STATUS = {
  received: ["Received", "grey"],
  parsing: ["Parsing", "blue"],
  matching: ["Matching", "blue"],
  complete: ["Complete", "green"],
  failed: ["Failed", "red"],
};

const fmt = (n) => Number(n || 0).toLocaleString("en-GB");

function set(name, value) {
  for (const el of root.querySelectorAll(`[data-field="${name}"]`)) {
    el.textContent = value;
  }
}

function show(batch) {
  const outcomes = batch.outcomes || {};
  // rows_processed counts every row dealt with, refused rows included.
  const done = batch.rows_processed || 0;
  const total = batch.rows_total || 0;
  const percent = total > 0 ? Math.floor((100 * done) / total) : 0;
  set("rows_total", fmt(total));
  set("rows_processed", fmt(batch.rows_processed));
  set("rows_failed", fmt(batch.rows_failed));
  set("done", fmt(done));
  set("percent", String(percent));
  for (const key of ["clear", "barred", "under_review", "incomplete"]) {
    set(`outcome_${key}`, fmt(outcomes[key]));
  }
  const bar = document.getElementById("progress-bar");
  bar.max = Math.max(total, 1);
  bar.value = done;
  bar.textContent = `${percent}%`;
  const [label, colour] = STATUS[batch.status] || [batch.status, "grey"];
  const tag = document.createElement("strong");
  tag.className = `govuk-tag govuk-tag--${colour}`;
  tag.textContent = label;
  for (const el of root.querySelectorAll('[data-field="status_text"]')) {
    el.replaceChildren(tag.cloneNode(true));
  }
  root.dataset.status = batch.status;
}

async function poll(delay) {
  let next = 1000;
  try {
    const response = await fetch(root.dataset.batchUrl, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
      cache: "no-store",
    });
    if (response.ok) {
      const batch = await response.json();
      show(batch);
      if (batch.status === "complete" || batch.status === "failed") {
        root.dataset.finished = "true";
        const link = document.getElementById("reload-link");
        if (link) link.hidden = true;
        return;
      }
    } else {
      next = Math.min(delay * 2, 15000);
    }
  } catch {
    next = Math.min(delay * 2, 15000);
  }
  setTimeout(() => poll(next), next);
}

if (root && root.dataset.finished !== "true") {
  poll(1000);
}
