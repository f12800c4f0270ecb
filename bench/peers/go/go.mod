module rtasync-peers/go

go 1.19
