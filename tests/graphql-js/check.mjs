// Checks a BFF's GraphQL endpoint with code that is not ours:
// graphql-request sends the operations, as an app would; graphql-js (the
// reference implementation) builds the schema from the endpoint's
// introspection, compares it with the SDL of the spec folder, validates
// each operation, and re-executes it over the answer's own data, so a
// value of the wrong type, a null where the schema forbids one, or a field
// that was not asked for shows up as a difference.
//
// usage: node check.mjs URL SDL_FILE OPERATIONS_JSON
// OPERATIONS_JSON: [{"query": "...", "variables": {...}}, ...]
// Prints one JSON line: {"schema_equal", "results": [{data, errors, problems}]}.

import { readFileSync } from "node:fs";
import {
  buildClientSchema,
  buildSchema,
  execute,
  getIntrospectionQuery,
  lexicographicSortSchema,
  parse,
  printSchema,
  validate,
} from "graphql";
import { GraphQLClient } from "graphql-request";

const [url, sdlFile, operationsJson] = process.argv.slice(2);
const client = new GraphQLClient(url);

const introspection = await client.request(getIntrospectionQuery());
const served = buildClientSchema(introspection);
const written = buildSchema(readFileSync(sdlFile, "utf8"));
const print = (s) => printSchema(lexicographicSortSchema(s));
const schemaEqual = print(served) === print(written);

// Resolves every field from the answer itself, by response key.
const fromAnswer = (source, _args, _context, info) =>
  source == null ? null : source[info.path.key];

const results = [];
for (const op of JSON.parse(operationsJson)) {
  const document = parse(op.query);
  const problems = validate(served, document).map((e) => e.message);
  let data = null;
  let errors = [];
  try {
    data = await client.request(op.query, op.variables ?? {});
  } catch (e) {
    // graphql-request throws when the answer has errors; keep both parts.
    data = e.response?.data ?? null;
    errors = e.response?.errors ?? [String(e)];
  }
  if (data != null) {
    const again = await execute({
      schema: served,
      document,
      rootValue: data,
      variableValues: op.variables ?? {},
      fieldResolver: fromAnswer,
    });
    for (const e of again.errors ?? []) problems.push(`re-executed: ${e.message}`);
    if (JSON.stringify(again.data) !== JSON.stringify(data)) {
      problems.push(`re-executed data differs: ${JSON.stringify(again.data)}`);
    }
  }
  results.push({ data, errors, problems });
}
console.log(JSON.stringify({ schema_equal: schemaEqual, served: print(served), written: print(written), results }));
