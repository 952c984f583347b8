export const meta = { name: 'throw-error-fails-run', description: 'conformance case throw_error_fails_run' }
throw new Error('boom from the script')
