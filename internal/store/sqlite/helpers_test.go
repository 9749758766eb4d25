package sqlite_test

import "database/sql"

func sqlOpenWritable(path string) (*sql.DB, error) {
	return sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
}
