export const meta = { name: 'throw-string-fails-run', description: 'conformance case throw_string_fails_run' }
throw 'a bare string'
