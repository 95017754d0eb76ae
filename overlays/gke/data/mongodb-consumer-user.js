// The consumer's MongoDB user (issue 27): readWrite on the votes database and nothing else, instead
// of the root user of Secret mongodb-auth. Its name and password are the files of Secret
// mongodb-consumer, mounted at /etc/mongodb-consumer. The mongo image runs this once, as root, when
// it initialises an empty volume; a MongoDB that already holds data gets the user by hand
// (docs/gke.md, "The consumer's MongoDB user").
const fs = require("fs");
const read = (name) => fs.readFileSync(`/etc/mongodb-consumer/${name}`, "utf8").trim();
db.getSiblingDB("admin").createUser({
  user: read("username"),
  pwd: read("password"),
  roles: [{ role: "readWrite", db: "votes" }],
});
