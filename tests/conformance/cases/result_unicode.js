export const meta = { name: 'result-unicode', description: 'conformance case result_unicode' }
return { s: 'héllo — ✓ 日本', e: '' }
