// CommonJS consumers: require('collapse-lab') works where Node can require an ES module graph
// (Node >= 20.19 / 22.12, process.features.require_module); elsewhere Node's ERR_REQUIRE_ESM says
// to use import(). Prints what happened as JSON.
try {
  const lab = require('collapse-lab');
  console.log(JSON.stringify({ loaded: true, NGramModel: typeof lab.NGramModel, loadCorpus: typeof lab.loadCorpus }));
} catch (err) {
  console.log(JSON.stringify({ loaded: false, code: err.code, message: String(err.message).split('\n')[0] }));
}
