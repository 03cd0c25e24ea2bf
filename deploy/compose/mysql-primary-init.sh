# Sourced by the mysql image's entrypoint at the local MySQL's first start
# (docker-entrypoint-initdb.d; docker_process_sql connects as root): the user the replica
# replicates as. Kept out of the binary log: the replica makes its own users.
docker_process_sql <<SQL
SET SESSION sql_log_bin = 0;
CREATE USER IF NOT EXISTS 'repl'@'%' IDENTIFIED BY '${MYSQL_REPLICATION_PASSWORD}';
GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%';
SQL
