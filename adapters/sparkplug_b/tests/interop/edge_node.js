// An independent Sparkplug B edge node for citygate's sparkplug_b interop test, built on Eclipse
// Tahu's JavaScript client (npm `sparkplug-client`, pinned by package-lock.json).
//
// usage: node edge_node.js <broker url> <group id> <edge node id> <device id>
//
// On connect it publishes NBIRTH + DBIRTH (metrics with aliases and engUnit properties), one NDATA
// and one DDATA by alias, then skips three sequence numbers (a forced gap) and publishes another
// NDATA. The host should answer the gap with an NCMD "Node Control/Rebirth" = true; the node then
// sends a new NBIRTH + DBIRTH and one more NDATA/DDATA. Progress goes to stdout, one word a line,
// for the test to wait on. SIGTERM stops the client with an NDEATH.
'use strict';

const sparkplug = require('sparkplug-client');

const [url, groupId, edgeNode, deviceId] = process.argv.slice(2);
if (!url || !groupId || !edgeNode || !deviceId) {
  console.error('usage: node edge_node.js <broker url> <group id> <edge node id> <device id>');
  process.exit(64);
}

const client = sparkplug.newClient({
  serverUrl: url,
  username: null, // anonymous (the test broker allows it)
  password: null,
  groupId,
  edgeNode,
  clientId: `citygate-it-edge-${process.pid}`,
  version: 'spBv1.0',
  publishDeath: true,
});

const say = (word) => console.log(word);
const engUnit = (u) => ({ engUnit: { type: 'String', value: u } });

function nodeBirth() {
  const ts = Date.now();
  return {
    timestamp: ts,
    metrics: [
      { name: 'Node Control/Rebirth', alias: 1, type: 'Boolean', value: false, timestamp: ts },
      { name: 'temperature', alias: 2, type: 'Double', value: 21.5, timestamp: ts, properties: engUnit('Cel') },
      { name: 'counter', alias: 3, type: 'Int32', value: -7, timestamp: ts },
    ],
  };
}

function deviceBirth() {
  const ts = Date.now();
  return {
    timestamp: ts,
    metrics: [
      { name: 'humidity', alias: 10, type: 'Float', value: 55.5, timestamp: ts, properties: engUnit('%') },
      { name: 'door', alias: 11, type: 'Boolean', value: false, timestamp: ts },
    ],
  };
}

// Data by alias only, as Sparkplug wants after the birth.
function byAlias(alias, type, value) {
  const ts = Date.now();
  return { timestamp: ts, metrics: [{ alias, type, value, timestamp: ts }] };
}

function births() {
  client.publishNodeBirth(nodeBirth());
  client.publishDeviceBirth(deviceId, deviceBirth());
}

client.on('birth', () => {
  births();
  say('BIRTH_SENT');
  client.publishNodeData(byAlias(2, 'Double', 22.5));
  client.publishDeviceData(deviceId, byAlias(10, 'Float', 56.25));
  say('DATA_SENT');
  client.seq += 3; // three messages "lost" between node and host
  client.publishNodeData(byAlias(2, 'Double', 23.5));
  say('GAP_SENT');
});

client.on('ncmd', (payload) => {
  const rebirth = (payload.metrics || []).find((m) => m.name === 'Node Control/Rebirth');
  if (!rebirth || rebirth.value !== true) return;
  say('REBIRTH_REQUESTED');
  births();
  client.publishNodeData(byAlias(2, 'Double', 24.5));
  client.publishDeviceData(deviceId, byAlias(10, 'Float', 57.5));
  say('REBIRTH_ANSWERED');
});

client.on('error', (e) => {
  console.error(`ERROR ${e && e.message}`);
  process.exit(1);
});

process.on('SIGTERM', () => {
  client.stop(); // publishes the NDEATH
  setTimeout(() => process.exit(0), 500);
});

// never outlive a broken test
setTimeout(() => {
  say('TIMEOUT');
  process.exit(2);
}, 120000).unref();
