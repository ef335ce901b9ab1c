Component "a" "muc" { x = { 1; 2 } }
Component ("c." .. d) "muc"
VirtualHost [[v]] Include "x/*.lua"
