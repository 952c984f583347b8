export const meta = { name: 'globals-typeof', description: 'conformance case globals_typeof' }
return ['agent', 'parallel', 'pipeline', 'phase', 'log', 'budget', 'workflow', 'args'].map((n) => n + ':' + typeof globalThis[n])
