# Sourced by the scripts in benches/http: the command line of each server
# they compare. Needs $bin (the examples' directory) and $ADDR.

# server_cmd NAME: the command line of one server.
server_cmd() {
  case $1 in
    coframe-local-async)    echo "$bin/http_hello --mode async --executor local --addr $ADDR" ;;
    coframe-local-stackful) echo "$bin/http_hello --mode stackful --executor local --addr $ADDR" ;;
    coframe-pool-async)     echo "$bin/http_hello --mode async --executor pool --workers 2 --addr $ADDR" ;;
    coframe-pool-stackful)  echo "$bin/http_hello --mode stackful --executor pool --workers 2 --addr $ADDR" ;;
    tokio-current)          echo "$bin/tokio_hello --flavor current --addr $ADDR" ;;
    tokio-multi)            echo "$bin/tokio_hello --flavor multi --workers 2 --addr $ADDR" ;;
    *) echo "unknown server $1" >&2; exit 2 ;;
  esac
}
