"""What every process of the app runs on, apart from its settings (config/): Redis and the keys the
app keeps there, its streams, the upstream client, the threads requests' sync work runs on, rows
kept in memory, locks, and what a web process finishes before it exits."""
