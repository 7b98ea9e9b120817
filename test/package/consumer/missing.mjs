// Loads the addon and prints the outcome as JSON (used with the prebuilt hidden: the error must
// say what to do).
import { nativeBinary } from 'collapse-lab';
try {
  console.log(JSON.stringify({ loaded: true, binary: nativeBinary() }));
} catch (err) {
  console.log(JSON.stringify({ loaded: false, name: err.name, code: err.code, message: err.message }));
}
