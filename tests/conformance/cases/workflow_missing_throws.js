export const meta = { name: 'workflow-missing-throws', description: 'conformance case workflow_missing_throws' }
try { await workflow('no-such-workflow'); return 'no throw' }
catch (e) { return { threw: true } }
