module github.com/plugd/plugd/sdks/go

go 1.22
