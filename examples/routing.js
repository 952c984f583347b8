// routing.js — a cheap router classifies each request, then a specialist for
// that class handles it: each route has its own persona (`agentType`), and
// optionally its own model. Requests flow through route → handle on their
// own (pipeline), so a quick question is answered while a bug is still being
// classified. An unknown route falls back to 'question' and is reported.
//
// Pattern: routing (ODW).
//
// args:   {"requests": string[] = 3 support requests (see DEFAULT_REQUESTS),
//          "models": {[route]: string} = {}}   // e.g. {"bug": "opus"} on a real CLI
// agents: 6
//         = 2 per request (router + specialist).
// result: {"routed": [{"request": string, "route": "bug"|"feature"|"question",
//                      "confidence": number, "answer": string} | null],
//          "counts": {"bug": number, "feature": number, "question": number},
//          "fallbacks": number}
//
//   odw run examples/routing.js --wait --args '{"requests": ["The export button does nothing"]}'
export const meta = {
  name: 'routing',
  description: 'Classify each request, then hand it to the specialist for its class',
  phases: [{ title: 'Route and handle', detail: 'router → specialist, per request (pipeline)' }],
};

const DEFAULT_REQUESTS = [
  'Saving a file with a non-ASCII name crashes the app.',
  'Could the CLI print its output as JSON?',
  'Where is the config file read from on macOS?',
];
const requests = (args && args.requests) || DEFAULT_REQUESTS;
const models = (args && args.models) || {};

const ROUTES = {
  bug: { persona: 'a senior engineer who triages bugs', ask: 'Give likely causes and a minimal reproduction plan.' },
  feature: { persona: 'a product-minded engineer', ask: 'Sketch the design and what it would cost.' },
  question: { persona: 'a support engineer', ask: 'Answer it directly and point to the relevant docs.' },
};
const ROUTE = {
  type: 'object',
  required: ['route', 'confidence'],
  properties: {
    route: { enum: Object.keys(ROUTES) },
    confidence: { type: 'number', minimum: 0, maximum: 1 },
  },
};

let fallbacks = 0;
phase('Route and handle');
const routed = await pipeline(
  requests,
  (req, _item, i) =>
    agent(`Classify this request as one of ${Object.keys(ROUTES).join(', ')}:\n${req}`, {
      label: `router-${i + 1}`,
      schema: ROUTE,
    }),
  async (r, req, i) => {
    let route = r.route;
    if (!ROUTES[route]) {
      fallbacks += 1;
      route = 'question';
    }
    const answer = await agent(`${ROUTES[route].ask}\n\nRequest: ${req}`, {
      label: `${route}-${i + 1}`,
      agentType: ROUTES[route].persona,
      // Only pass a model when one was configured for the route.
      ...(models[route] ? { model: models[route] } : {}),
    });
    return { request: req, route, confidence: r.confidence, answer };
  },
);

const counts = { bug: 0, feature: 0, question: 0 };
for (const r of routed) if (r) counts[r.route] += 1;
log(`routed: ${JSON.stringify(counts)}`);
return { routed, counts, fallbacks };
