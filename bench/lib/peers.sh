# shellcheck shell=bash
# Config generation and start-up for each peer. Sourced by bench/run.sh.
#
# Every peer does the same work per proxied request: HTTP/1.1 keep-alive pool to the
# upstream, X-Forwarded-For/-Proto, X-Request-ID, no access log, HTTP/1.1 only on TLS.
#
# TLS: one ECDSA P-256 certificate for all; TLS 1.3 with AES-128-GCM preferred by the
# server, which is what Go (Caddy, edge) picks on hardware with AES instructions.
TLS13_SUITES=TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256

# Globals read: WORK, UP_BLUE, UP_GREEN, PROXY_CPU, EDGE_BIN.
# Globals written: PID[name], HTTP_PORT[name], HTTPS_PORT[name], STATUS[name]
# (STATUS is "ok" or a sentence saying why the peer cannot run).

declare -A PID HTTP_PORT HTTPS_PORT STATUS

# start_bg NAME LOG CMD…: starts CMD pinned to the proxy core, remembers its pid.
start_bg() {
  local name=$1 log=$2
  shift 2
  pinned "$PROXY_CPU" "$@"
  "${PINNED[@]}" >"$log" 2>&1 &
  PID[$name]=$!
}

# ready NAME URL SECS [curl args]: STATUS[NAME]=ok once URL answers, else the reason.
# Gives up early when the process died or nothing listens on URL's port after 10 s.
ready() {
  local name=$1 url=$2 secs=$3 port
  shift 3
  port=${url##*:}
  port=${port%%/*}
  local deadline=$((SECONDS + secs)) listen_by=$((SECONDS + 10))
  while [ $SECONDS -lt $deadline ]; do
    if wait_http "$url" 1 "$@"; then
      STATUS[$name]=ok
      return 0
    fi
    alive "${PID[$name]}" || break
    if [ $SECONDS -ge $listen_by ] && port_free "$port"; then
      STATUS[$name]="nothing listens on port $port 10 s after start"
      say "$name: ${STATUS[$name]}"
      return 1
    fi
  done
  if ! alive "${PID[$name]}"; then
    STATUS[$name]="exited at start: $(tail -n 3 "$WORK/$name.log" | tr '\n' ' ')"
  else
    STATUS[$name]="no answer from $url within ${secs}s"
  fi
  say "$name: ${STATUS[$name]}"
  return 1
}

start_nginx() {
  next_port; HTTP_PORT[nginx]=$NEXT_PORT
  next_port; HTTPS_PORT[nginx]=$NEXT_PORT
  local d=$WORK/nginx
  mkdir -p "$d/tmp"
  cat >"$d/nginx.conf" <<EOF
user root;
worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 10000; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  open_file_cache max=1000 inactive=60s;
  client_body_temp_path $d/tmp/body;
  proxy_temp_path $d/tmp/proxy;
  fastcgi_temp_path $d/tmp/fastcgi;
  uwsgi_temp_path $d/tmp/uwsgi;
  scgi_temp_path $d/tmp/scgi;
  types { application/octet-stream bin; text/html html; }
  upstream up { server 127.0.0.1:$UP_BLUE; keepalive 128; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:${HTTP_PORT[nginx]};
    listen 127.0.0.1:${HTTPS_PORT[nginx]} ssl;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers on;
    ssl_conf_command Ciphersuites $TLS13_SUITES;
    ssl_certificate $WORK/certs/server.pem;
    ssl_certificate_key $WORK/certs/server.key;
    location /up/ {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Real-IP \$remote_addr;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_set_header X-Request-ID \$request_id;
      proxy_buffer_size 16k;
      proxy_buffers 8 16k;
    }
    location / { root $WORK/www; }
  }
}
EOF
  start_bg nginx "$WORK/nginx.log" nginx -c "$d/nginx.conf" -p "$d"
  ready nginx "http://127.0.0.1:${HTTP_PORT[nginx]}/up/health" 15
}

start_haproxy() {
  next_port; HTTP_PORT[haproxy]=$NEXT_PORT
  next_port; HTTPS_PORT[haproxy]=$NEXT_PORT
  local d=$WORK/haproxy
  mkdir -p "$d"
  cat >"$d/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 9000
  pidfile $d/haproxy.pid
  ssl-default-bind-ciphersuites $TLS13_SUITES
  ssl-default-bind-options ssl-min-ver TLSv1.2
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s
  option http-keep-alive
  option forwardfor
  http-reuse always
frontend fe
  bind 127.0.0.1:${HTTP_PORT[haproxy]}
  bind 127.0.0.1:${HTTPS_PORT[haproxy]} ssl crt $WORK/certs/haproxy.pem alpn http/1.1
  unique-id-format %{+X}o%ci%cp%fi%fp%Ts%rt%pid
  http-request set-header X-Request-ID %[unique-id]
  http-request set-header X-Real-IP %[src]
  http-request set-header X-Forwarded-Proto https if { ssl_fc }
  http-request set-header X-Forwarded-Proto http if !{ ssl_fc }
  http-request return status 404 if !{ path_beg /up/ }
  use_backend up if { path_beg /up/ }
backend up
  server blue 127.0.0.1:$UP_BLUE
EOF
  start_bg haproxy "$WORK/haproxy.log" haproxy -db -f "$d/haproxy.cfg"
  ready haproxy "http://127.0.0.1:${HTTP_PORT[haproxy]}/up/health" 15
}

start_caddy() {
  next_port; HTTP_PORT[caddy]=$NEXT_PORT
  next_port; HTTPS_PORT[caddy]=$NEXT_PORT
  local d=$WORK/caddy
  mkdir -p "$d/data"
  local routes="
	handle /up/* {
		reverse_proxy 127.0.0.1:$UP_BLUE {
			header_up X-Request-ID {http.request.uuid}
			header_up X-Real-IP {http.request.remote.host}
			transport http {
				keepalive_idle_conns_per_host 128
			}
		}
	}
	handle {
		root * $WORK/www
		file_server
	}"
  cat >"$d/Caddyfile" <<EOF
{
	admin off
	auto_https off
	storage file_system {
		root $d/data
	}
	servers {
		protocols h1
	}
}
http://:${HTTP_PORT[caddy]} {$routes
}
https://localhost:${HTTPS_PORT[caddy]} {
	tls $WORK/certs/server.pem $WORK/certs/server.key$routes
}
EOF
  HOME=$d XDG_DATA_HOME=$d/data XDG_CONFIG_HOME=$d GOMAXPROCS=1 \
    start_bg caddy "$WORK/caddy.log" caddy run --config "$d/Caddyfile" --adapter caddyfile
  ready caddy "http://127.0.0.1:${HTTP_PORT[caddy]}/up/health" 20
}
