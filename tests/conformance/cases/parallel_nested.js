export const meta = { name: 'parallel-nested', description: 'conformance case parallel_nested' }
return await parallel([() => parallel([() => agent('TASK inner a'), () => agent('TASK inner b')]), () => agent('TASK outer')])
