export const meta = { name: 'throw-caught', description: 'conformance case throw_caught' }
try { throw new Error('inner') } catch (e) { return 'caught ' + e.message }
