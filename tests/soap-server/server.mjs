// A real SOAP upstream for the gateway's end-to-end tests, built on the
// independent npm package `soap`, so the gateway's SOAP support is checked
// against code that is not ours.
//
//   node tests/soap-server/server.mjs
//
// Listens on 127.0.0.1, port 0 (the OS picks a free one, so parallel tests
// never collide), prints exactly one line `PORT <n>` on stdout once every
// route is ready, and runs until killed. Anything else goes to stderr, so a
// test can read the port from the first stdout line without parsing noise.
//
// Routes:
//   POST /soap11, GET /soap11?wsdl   SOAP 1.1 binding (npm soap)
//   POST /soap12, GET /soap12?wsdl   SOAP 1.2 binding (npm soap)
//   GET /requests                    every request seen so far (except those
//                                    to /requests itself), as a JSON array of
//                                    {method, path, headers, body}
//   DELETE /requests                 forget them
import { readFileSync } from 'node:fs';
import http from 'node:http';
import soap from 'soap';

const WSDL_TEMPLATE = readFileSync(new URL('./stock.wsdl', import.meta.url), 'utf8');

const QUOTES = {
  ACME: { price: 12.5, currency: 'EUR', tags: ['tools'] },
  GLOBEX: { price: 99.25, currency: 'USD', tags: ['energy', 'chemicals'] },
};

// --- faults -----------------------------------------------------------------
// npm soap picks the fault layout from the object's keys (`faultcode` -> 1.1,
// otherwise 1.2 Code/Reason) and prefixes 1.2 elements with the envelope
// prefix `soap`. It sends HTTP 200 unless the fault carries a statusCode, so
// every fault sets 500 explicitly (also for 1.2 Sender faults, which keeps
// both bindings alike for the tests).
function fault(version, kind, text) {
  if (version === '1.1') {
    return {
      Fault: {
        faultcode: kind === 'client' ? 'soap:Client' : 'soap:Server',
        faultstring: text,
        statusCode: 500,
      },
    };
  }
  return {
    Fault: {
      Code: { Value: kind === 'client' ? 'soap:Sender' : 'soap:Receiver' },
      Reason: { Text: { attributes: { 'xml:lang': 'en' }, $value: text } },
      statusCode: 500,
    },
  };
}

// npm soap hands an element with attributes over as { attributes, $value }.
const textOf = (v) => (v && typeof v === 'object' && '$value' in v ? v.$value : v);

// --- operations -------------------------------------------------------------
// One implementation per binding; only the fault layout differs.
function operations(version) {
  return {
    async GetQuote(args) {
      const symbol = String(textOf(args?.symbol) ?? '');
      if (symbol === 'CRASH') throw fault(version, 'server', 'quote engine down');
      if (symbol === 'SLOW') {
        // Lets tests exercise the gateway's upstream timeout.
        await new Promise((resolve) => setTimeout(resolve, 3000));
      }
      const quote = symbol === 'SLOW' ? QUOTES.ACME : QUOTES[symbol];
      if (!quote) throw fault(version, 'client', `unknown symbol ${symbol}`);
      return {
        symbol: symbol === 'SLOW' ? 'ACME' : symbol,
        price: quote.price,
        currency: quote.currency,
        // An array makes npm soap repeat <tag>; a single tag stays one element,
        // so only the schema tells a client that `tag` is a list.
        tags: { tag: quote.tags },
      };
    },

    async Echo(args) {
      // Count the child elements npm soap actually parsed in <Echo>: if a
      // client let `</text><evil/>` through as markup this becomes 2.
      let count = 0;
      for (const [key, value] of Object.entries(args ?? {})) {
        if (key === 'attributes') continue;
        count += Array.isArray(value) ? value.length : 1;
      }
      return { text: textOf(args?.text) ?? '', count };
    },

    // `headers` is the parsed <Header>; npm soap's parser ignores namespaces,
    // so the WS-Security token arrives as Security.UsernameToken.*. Checked
    // here rather than via Server.authenticate, which would guard every
    // operation, not just this one.
    async Whoami(_args, _cb, headers) {
      const token = headers?.Security?.UsernameToken;
      const user = textOf(token?.Username);
      if (!user || textOf(token?.Password) !== 's3cret') {
        throw fault(version, 'client', 'not authenticated');
      }
      return { user };
    },
  };
}

const services = {
  StockService: {
    StockSoap11Port: operations('1.1'),
    StockSoap12Port: operations('1.2'),
  },
};

// --- request recording --------------------------------------------------------
const recorded = [];

// Handles what npm soap does not claim (it calls the listeners that were
// registered before it for paths other than its own).
function fallback(req, res) {
  const path = new URL(req.url, 'http://x').pathname;
  if (path === '/requests' && req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(recorded));
  } else if (path === '/requests' && req.method === 'DELETE') {
    recorded.length = 0;
    res.writeHead(204);
    res.end();
  } else {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  }
}

const server = http.createServer();
server.on('request', fallback);

server.listen(0, '127.0.0.1', async () => {
  const { port } = server.address();
  // Real addresses in the served WSDL, for clients that take them from it.
  const xml = WSDL_TEMPLATE.replaceAll('__BASE_URL__', `http://127.0.0.1:${port}`);

  // One soap.listen per binding: npm soap chooses the response envelope
  // (1.1 or 1.2) per WSDL instance via forceSoap12Headers, not per request.
  const attach = (path, forceSoap12Headers) =>
    new Promise((resolve, reject) => {
      soap.listen(server, {
        path,
        services,
        xml,
        forceSoap12Headers,
        callback: (err) => (err ? reject(err) : resolve()),
      });
    });
  try {
    await attach('/soap11', false);
    await attach('/soap12', true);
  } catch (err) {
    console.error('soap.listen failed:', err);
    process.exit(1);
  }

  // Record outermost, around npm soap's listener chain. Our 'data' listener
  // is added before npm soap adds its own in the same tick, so both see every
  // chunk and npm soap's body reading is untouched; ours fires 'end' first, so
  // a record is complete before the response that depends on it is sent.
  const soapChain = server.listeners('request');
  server.removeAllListeners('request');
  server.on('request', (req, res) => {
    if (new URL(req.url, 'http://x').pathname !== '/requests') {
      const entry = { method: req.method, path: req.url, headers: { ...req.headers }, body: '' };
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        entry.body = Buffer.concat(chunks).toString('utf8');
        recorded.push(entry);
      });
    }
    for (const listener of soapChain) listener.call(server, req, res);
  });

  process.stdout.write(`PORT ${port}\n`);
  console.error(`soap server ready on http://127.0.0.1:${port} (/soap11, /soap12)`);
});
