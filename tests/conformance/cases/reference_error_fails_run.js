export const meta = { name: 'reference-error-fails-run', description: 'conformance case reference_error_fails_run' }
return notDefinedAnywhere + 1
