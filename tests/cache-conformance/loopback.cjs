// Preloaded into the suite's origin server (node --require): server.mjs
// calls server.listen(port) without a host, which binds every interface.
// Giving such calls 127.0.0.1 keeps the origin off the network without
// patching the installed package.
'use strict'
const net = require('net')

const listen = net.Server.prototype.listen
net.Server.prototype.listen = function (...args) {
  const port = args[0]
  const isPort = typeof port === 'number' || (typeof port === 'string' && /^\d+$/.test(port))
  if (isPort && typeof args[1] !== 'string') {
    args.splice(0, 1, Number(port), '127.0.0.1')
  }
  return listen.apply(this, args)
}
