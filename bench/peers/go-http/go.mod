module rtasync-peer-go-http

go 1.19
