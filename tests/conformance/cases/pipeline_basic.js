export const meta = { name: 'pipeline-basic', description: 'conformance case pipeline_basic' }
return await pipeline(['A', 'B'], (x) => agent('TASK s1 ' + x), (prev, item) => agent('TASK s2 ' + item + ' after ' + prev.slice(0, 13)))
