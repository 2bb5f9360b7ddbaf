// Start Swagger UI on /docs with the settings the page carries (no inline script: the page's
// Content-Security-Policy allows only this origin's script files).
"use strict";
window.addEventListener("load", () => {
  const container = document.getElementById("swagger-ui-container");
  const config = JSON.parse(container.dataset.config || "{}");
  window.ui = SwaggerUIBundle({ url: container.dataset.specUrl, dom_id: "#swagger-ui-container",
                                ...config });
});
