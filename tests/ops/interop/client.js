// Interop and load client for prioscore, written from protos/prioscore/v1/*.proto alone.
//
// Usage: node client.js <target> <protos root> <total calls> <in flight>
// Drives ScoreEntities (inline features as little-endian bytes, inline events with
// timestamps) and IngestEvents (client streams) concurrently, then prints one JSON line:
// {"calls", "errors", "seconds", "rps", "accepted", "scored", "errorSamples"}.
// Needs @grpc/grpc-js and @grpc/proto-loader on NODE_PATH.
"use strict";

const path = require("path");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const [target, protosRoot, totalArg, inFlightArg] = process.argv.slice(2);
const TOTAL = Number(totalArg || 2000);
const IN_FLIGHT = Number(inFlightArg || 32);
const PROFILE = "lead_qualification";
const EVENTS_PER_INGEST = 5;
const ROWS = 50;

const definition = protoLoader.loadSync(
  ["scoring_service.proto", "event_service.proto", "profile_service.proto"].map((f) =>
    path.join("prioscore", "v1", f),
  ),
  { includeDirs: [protosRoot], keepCase: true, longs: String, enums: String, defaults: true },
);
const v1 = grpc.loadPackageDefinition(definition).prioscore.v1;
const credentials = grpc.credentials.createInsecure();
const scoring = new v1.ScoringService(target, credentials);
const events = new v1.EventService(target, credentials);
const profiles = new v1.ProfileService(target, credentials);

function unary(client, method, request) {
  return new Promise((resolve, reject) => {
    client[method](request, { deadline: Date.now() + 30000 }, (error, reply) =>
      error ? reject(error) : resolve(reply),
    );
  });
}

function ingest(batch) {
  return new Promise((resolve, reject) => {
    const call = events.IngestEvents({ deadline: Date.now() + 30000 }, (error, reply) =>
      error ? reject(error) : resolve(reply),
    );
    const list = [];
    for (let i = 0; i < EVENTS_PER_INGEST; i++) {
      list.push({
        message_id: `js-${process.pid}-${batch}-${i}`,
        kind: "EVENT_KIND_TRACK",
        entity_id: `js-contact-${batch % 200}`,
        entity_kind: "contact",
        event: "page_view",
        properties: { url: i % 2 ? "/pricing" : "/docs/start" },
        time: { seconds: String(Math.floor(Date.now() / 1000) - i * 3600), nanos: 0 },
      });
    }
    call.write({ events: list.slice(0, 2) }); // two messages in one client stream
    call.write({ events: list.slice(2) });
    call.end();
  });
}

function featureMatrix(columns, seed) {
  const data = Buffer.alloc(ROWS * columns * 8);
  for (let i = 0; i < ROWS * columns; i++) data.writeDoubleLE(((i * 7 + seed) % 11) / 2, i * 8);
  return { dtype: "DTYPE_FLOAT64", shape: [ROWS, columns], data };
}

async function main() {
  const detail = await unary(profiles, "GetProfile", { name: PROFILE });
  const columns = detail.signals.length;
  const started = process.hrtime.bigint();
  let next = 0;
  let errors = 0;
  let accepted = 0;
  let scored = 0;
  const errorSamples = [];

  async function one(n) {
    if (n % 2 === 0) {
      const reply = await ingest(n); // int64 counts arrive as strings (longs: String)
      const [fresh, duplicates] = [Number(reply.accepted), Number(reply.duplicates)];
      if (fresh + duplicates !== EVENTS_PER_INGEST) throw new Error(`counts ${fresh}+${duplicates}`);
      accepted += fresh;
    } else if (n % 4 === 1) {
      const reply = await unary(scoring, "ScoreEntities", {
        profile: PROFILE,
        inline_features: {
          features: featureMatrix(columns, n),
          entity_ids: Array.from({ length: ROWS }, (_, i) => `row-${i}`),
        },
      });
      if (reply.scores.length !== ROWS) throw new Error(`got ${reply.scores.length} scores`);
      scored += reply.scores.length;
    } else {
      const reply = await unary(scoring, "ScoreEntities", {
        profile: PROFILE,
        explain: true,
        inline_events: {
          events: [
            {
              message_id: `inline-${n}`,
              kind: "EVENT_KIND_TRACK",
              entity_id: `inline-${n}`,
              event: "page_view",
              properties: { url: "/pricing" },
              time: { seconds: String(Math.floor(Date.now() / 1000)), nanos: 5 },
            },
          ],
        },
      });
      if (reply.scores.length !== 1 || reply.scores[0].entity_id !== `inline-${n}`)
        throw new Error("inline score does not match its entity");
      scored += 1;
    }
  }

  async function worker() {
    while (next < TOTAL) {
      const n = next++;
      try {
        await one(n);
      } catch (error) {
        errors += 1;
        if (errorSamples.length < 5) errorSamples.push(`${n}: ${error.code} ${error.message}`);
      }
    }
  }

  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  process.stdout.write(
    JSON.stringify({
      calls: TOTAL,
      errors,
      seconds,
      rps: TOTAL / seconds,
      accepted,
      scored,
      errorSamples,
    }) + "\n",
  );
  for (const client of [scoring, events, profiles]) client.close();
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
