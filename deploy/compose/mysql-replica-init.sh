# Sourced by the mysql image's entrypoint at the local read replica's first start
# (docker-entrypoint-initdb.d; docker_process_sql connects as root): replicate the primary by
# GTID from its first transaction, and let s3meta read the replica's lag (REPLICATION CLIENT:
# SHOW REPLICA STATUS). The replica keeps retrying until the primary answers.
docker_process_sql <<SQL
SET SESSION sql_log_bin = 0;
GRANT REPLICATION CLIENT ON *.* TO '${MYSQL_USER}'@'%';
CHANGE REPLICATION SOURCE TO
  SOURCE_HOST = 'mysql', SOURCE_PORT = 3306,
  SOURCE_USER = 'repl', SOURCE_PASSWORD = '${MYSQL_REPLICATION_PASSWORD}',
  SOURCE_AUTO_POSITION = 1, GET_SOURCE_PUBLIC_KEY = 1, SOURCE_CONNECT_RETRY = 5;
START REPLICA;
SQL
