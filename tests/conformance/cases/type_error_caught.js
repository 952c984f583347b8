export const meta = { name: 'type-error-caught', description: 'conformance case type_error_caught' }
try { null.x } catch (e) { return e instanceof TypeError }
