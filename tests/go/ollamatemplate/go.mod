module tunesmith.test/ollamatemplate

go 1.19
