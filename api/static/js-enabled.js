// Marks the page as having JavaScript before it paints (GOV.UK Frontend's template does this
// inline; a file keeps the content security policy free of inline scripts).
document.body.className +=
  " js-enabled" + ("noModule" in HTMLScriptElement.prototype ? " govuk-frontend-supported" : "");
