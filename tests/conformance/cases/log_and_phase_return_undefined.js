export const meta = { name: 'log-and-phase-return-undefined', description: 'conformance case log_and_phase_return_undefined' }
return { log: typeof log('x'), phase: typeof phase('P') }
