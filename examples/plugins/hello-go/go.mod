module github.com/plugd/plugd/examples/plugins/hello-go

go 1.22

require github.com/plugd/plugd/sdks/go v0.0.0

replace github.com/plugd/plugd/sdks/go => ../../../sdks/go
