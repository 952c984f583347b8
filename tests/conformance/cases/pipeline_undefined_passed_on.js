export const meta = { name: 'pipeline-undefined-passed-on', description: 'conformance case pipeline_undefined_passed_on' }
return await pipeline([1, 2], (x) => undefined, (prev, item) => ({ prevType: typeof prev, item }))
