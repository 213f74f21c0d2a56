// The benchmark's Node GraphQL peer: Apollo Server (standalone, Node's
// http) whose resolvers fetch the origin's documents, the way a team would
// write the same three-call query by hand.
// usage: node server.mjs PORT ORIGIN_URL SCHEMA_FILE
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";
import { readFileSync } from "node:fs";

const [port, origin, schemaFile] = process.argv.slice(2);
const typeDefs = readFileSync(schemaFile, "utf8");
const get = (path) => fetch(origin + path).then((r) => r.json());
const resolvers = {
  Query: {
    a: () => get("/a.json"),
    b: () => get("/b.json"),
    c: () => get("/c.json"),
  },
};
const server = new ApolloServer({ typeDefs, resolvers });
await startStandaloneServer(server, { listen: { port: Number(port), host: "127.0.0.1" } });
