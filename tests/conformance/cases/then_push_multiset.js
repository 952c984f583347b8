// @multiset
export const meta = { name: 'then-push-multiset', description: 'conformance case then_push_multiset' }
const got = []
await Promise.all(['a', 'b', 'c'].map((x) => agent('TASK then ' + x).then((r) => got.push(r))))
return got
