#!/usr/bin/env bash
# Back up the cangtou database and model directory into DEST/<timestamp>/.
#   deploy/backup.sh /var/backups/cangtou
# PostgreSQL: pg_dump (custom format; restore with pg_restore). SQLite: sqlite3 .backup (a
# consistent copy of a live database). Models: a tar of CANGTOU_MODELS_DIR (CURRENT included).
set -euo pipefail
DEST="${1:?usage: backup.sh DEST}"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
OUT="$DEST/$STAMP"
mkdir -p "$OUT"
URL="${CANGTOU_DATABASE_URL:-${DATABASE_URL:-sqlite:///data/cangtou.db}}"
case "$URL" in
  postgres*://*)
    pg_dump --format=custom --file="$OUT/cangtou.pgdump" "${URL/postgresql+psycopg/postgresql}" ;;
  sqlite:///*)
    sqlite3 "${URL#sqlite:///}" ".backup '$OUT/cangtou.db'" ;;
  *) echo "backup.sh: unsupported database URL" >&2; exit 2 ;;
esac
MODELS="${CANGTOU_MODELS_DIR:-data/models}"
if [ -d "$MODELS" ]; then
  tar --create --gzip --file="$OUT/models.tar.gz" --exclude=.staging -C "$(dirname "$MODELS")" "$(basename "$MODELS")"
fi
echo "backup written to $OUT"
