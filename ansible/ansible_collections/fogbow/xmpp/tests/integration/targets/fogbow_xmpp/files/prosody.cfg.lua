-- A scratch prosody config for the fogbow.xmpp integration test.
admins = { }

modules_enabled = {
	"roster"; "saslauth"; "tls"; "disco"; "ping";
}

-- Component definitions go below VirtualHost lines.
VirtualHost "localhost"

Component "rooms.localhost" "muc"
