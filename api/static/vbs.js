// Starts GOV.UK Frontend's components. Every page works without this file.
import { initAll } from "/assets/govuk-frontend.min.js";

initAll();
