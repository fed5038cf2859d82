-- docker-compose.yml's postgres: one database per service (their instances share it), made once when
-- the data volume is new. The services create their tables.
CREATE DATABASE billing_monitor;
CREATE DATABASE contract_state;
CREATE DATABASE notification;
CREATE DATABASE time_tracking;
