#!/bin/sh
# The container's start: the bot alone, or, with GENTLY_REPLICA_URL set, the bot under
# Litestream: refuse while another instance replicates, restore on a new machine, then
# replicate with the bot as Litestream's child (signals reach it, both stop together).
set -eu
if [ -z "${GENTLY_REPLICA_URL:-}" ]; then
    exec python -m bot run
fi
config=/etc/gently/litestream.yml
export GENTLY_LITESTREAM_SOCKET=/tmp/litestream.sock  # the bot checkpoints through it
python -m bot replica-check --config "$config"
litestream restore -config "$config" -if-db-not-exists -if-replica-exists "$GENTLY_DB_PATH"
exec litestream replicate -config "$config" -exec "python -m bot run"
