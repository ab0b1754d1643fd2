// The demo project's "build": writes into ./build, which the cell mounts as a tmpfs.
const fs = require("fs");
fs.mkdirSync("build", { recursive: true });
fs.writeFileSync("build/out.txt", "built inside the cell\n");
console.log("build: wrote build/out.txt");
