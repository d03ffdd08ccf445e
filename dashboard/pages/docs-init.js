// Starts Swagger UI on this origin's OpenAPI document. "Try it out" calls the same origin (the
// document has no `servers`), with the bearer token given under "Authorize". The token is kept in
// memory only (persistAuthorization off): nothing lands in localStorage or in a URL.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: false,
  displayRequestDuration: true,
  validatorUrl: null, // the default asks validator.swagger.io: no calls off this origin
});
