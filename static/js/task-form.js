// The new-task form: JSON fields are checked as they are typed (and again on submit) so a typo is shown
// next to its field before anything is sent. The server checks everything again, the schema included.

const form = document.querySelector("[data-task-form]");
const SCHEMA_TYPES = ["array", "boolean", "integer", "null", "number", "object", "string"];

// A quick look at the most common JSON Schema mistake; the server runs the full check_schema.
function schemaProblem(schema) {
  const types = Array.isArray(schema.type) ? schema.type : schema.type === undefined ? [] : [schema.type];
  const bad = types.find((t) => !SCHEMA_TYPES.includes(t));
  return bad === undefined ? "" : `This is not a valid JSON Schema: "type" cannot be ${JSON.stringify(bad)} (use one of ${SCHEMA_TYPES.join(", ")}).`;
}

function checkJson(field) {
  const error = document.getElementById(`${field.id}_error`);
  const text = field.value.trim();
  let message = "";
  if (text) {
    try {
      const value = JSON.parse(text);
      if (field.dataset.json === "object" && (value === null || typeof value !== "object" || Array.isArray(value))) {
        message = 'This must be a JSON object, like {"key": "value"}.';
      } else if (field.dataset.schema) {
        message = schemaProblem(value);
      }
    } catch (err) {
      message = `This is not valid JSON: ${err.message}`;
    }
  }
  error.textContent = message;
  field.setAttribute("aria-invalid", message ? "true" : "false");
  field.closest(".field").classList.toggle("has-error", Boolean(message));
  return !message;
}

if (form) {
  const jsonFields = [...form.querySelectorAll("textarea[data-json]")];
  for (const field of jsonFields) {
    field.addEventListener("input", () => checkJson(field)); // editing replaces the server's message too
  }
  form.addEventListener("submit", (event) => {
    const bad = jsonFields.filter((field) => !checkJson(field));
    if (bad.length) {
      event.preventDefault();
      bad[0].focus();
    }
  });
  // After a rejected submit, take keyboard and screen-reader users to the first field with an error.
  const firstError = form.querySelector(".has-error input, .has-error textarea, .has-error select");
  if (firstError) firstError.focus();
  else form.querySelector("[data-error-summary]")?.focus();
}
