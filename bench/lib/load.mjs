// autocannon in a process of its own: a load generator sharing the server's event loop takes its time from the
// server it measures (bench/http.mjs). Usage: node bench/lib/load.mjs '<autocannon options as JSON>'
// Prints the result's requests/latency/errors as one JSON line.
import autocannon from "autocannon";

const opts = JSON.parse(process.argv[2] ?? "{}");
autocannon(opts, (err, r) => {
  if (err) {
    console.error(err);
    process.exit(1);
  }
  console.log(JSON.stringify({ requests: r.requests, latency: r.latency, errors: r.errors, non2xx: r.non2xx }));
});
