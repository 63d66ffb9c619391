// Calls a podmig gRPC server from Node's @grpc/grpc-js, knowing it only
// through podmig's .proto files: Agent.Info, a failing unary call (status
// code and message cross over) and a server stream.
// usage: node info-client.js HOST:PORT PROTO_DIR
'use strict';
const path = require('path');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const [target, protoDir] = process.argv.slice(2);
const def = loader.loadSync(['agent.proto', 'testing.proto'], {
  includeDirs: [path.join(protoDir, 'podmig', 'v1')],
  keepCase: true,
  longs: Number,
  defaults: true,
});
const v1 = grpc.loadPackageDefinition(def).podmig.v1;
const creds = grpc.credentials.createInsecure();
const agent = new v1.Agent(target, creds);
const testing = new v1.Testing(target, creds);
const deadline = () => Date.now() + 5000;

function fail(msg) {
  console.error('FAIL: ' + msg);
  process.exit(1);
}

function unary(client, method, req) {
  return new Promise((resolve) => {
    client[method](req, { deadline: deadline() }, (err, resp) => resolve({ err, resp }));
  });
}

async function main() {
  let { err, resp } = await unary(agent, 'Info', {});
  if (err) fail('Info: ' + err.message);
  if (resp.node_name !== 'interop-node') fail('Info: node_name ' + JSON.stringify(resp.node_name));
  if (!/^\d+\.\d+\.\d+/.test(resp.version)) fail('Info: version ' + JSON.stringify(resp.version));
  console.log(`Info: node_name=${resp.node_name} version=${resp.version}`);

  ({ err, resp } = await unary(testing, 'Echo', { text: 'from node', fail_code: grpc.status.NOT_FOUND }));
  if (!err || err.code !== grpc.status.NOT_FOUND || err.details !== 'failed as asked: from node')
    fail('Echo error: ' + (err ? `${err.code} ${err.details}` : 'no error'));
  console.log(`Echo error: code=${err.code} details=${err.details}`);

  const seqs = [];
  await new Promise((resolve) => {
    const call = testing.Count({ text: 'n', seq: 3 }, { deadline: deadline() });
    call.on('data', (m) => seqs.push(m.seq));
    call.on('error', (e) => fail('Count: ' + e.message));
    call.on('end', resolve);
  });
  if (seqs.join(',') !== '0,1,2') fail('Count: got ' + seqs.join(','));
  console.log('Count: ' + seqs.join(','));
  agent.close();
  testing.close();
}

main().catch((e) => fail(e.stack));
