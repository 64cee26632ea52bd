# Start Debian's PostgreSQL cluster on loopback with a trialdesk role (idempotent).
start_postgres() {
  local ver
  ver=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  if ! pg_lsclusters -h | grep -q "^$ver main"; then
    pg_createcluster "$ver" main >/dev/null
  fi
  pg_ctlcluster "$ver" main start 2>/dev/null || true
  for _ in $(seq 1 30); do
    su postgres -c "pg_isready -q -h 127.0.0.1 -p 5432" && break
    sleep 1
  done
  su postgres -c "psql -q -tc \"SELECT 1 FROM pg_roles WHERE rolname='trialdesk'\"" | grep -q 1 \
    || su postgres -c "psql -q -c \"CREATE ROLE trialdesk LOGIN SUPERUSER PASSWORD 'trialdesk'\""
  su postgres -c "psql -q -tc \"SELECT 1 FROM pg_database WHERE datname='trialdesk_test'\"" | grep -q 1 \
    || su postgres -c "createdb -O trialdesk trialdesk_test"
}
