// @args "raw text"
export const meta = { name: 'args-string', description: 'conformance case args_string' }
return { t: typeof args, args }
