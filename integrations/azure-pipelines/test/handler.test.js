// The AzPublish task run as the agent runs it: a node process with INPUT_*, ENDPOINT_* and
// agent variables in its environment. azure-pipelines-task-lib reads them once per process, so
// each case runs in a process of its own.
//
// The end-to-end cases need the azpublish emulator and the CLI; tests/integration/
// test_pipelines_task.py starts them and sets AZPUBLISH_TASK_TEST_* (skipped otherwise).
'use strict';

const assert = require('node:assert/strict');
const childProcess = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { test } = require('node:test');

const TASK_DIR = path.join(__dirname, '..');
const HANDLER = path.join(TASK_DIR, 'index.js');
const CONNECTION = 'conn-1';
const E2E = process.env.AZPUBLISH_TASK_TEST_CLI ? false : 'needs the emulator: run tests/integration/test_pipelines_task.py';

// The agent's environment, minus anything of the machine's that would change the outcome.
function agentEnv(extra) {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(INPUT_|ENDPOINT_|SECRET_|AZPUBLISH_|AZURE_|GITHUB_|SYSTEM_|TF_BUILD)/.test(key)) continue;
    env[key] = value;
  }
  const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'agent-temp-'));
  return { ...env, AGENT_TEMPDIRECTORY: temp, TF_BUILD: 'True', ...extra };
}

function endpoint(scheme, auth, data = {}) {
  const env = { [`ENDPOINT_AUTH_SCHEME_${CONNECTION}`]: scheme };
  for (const [key, value] of Object.entries(auth)) {
    env[`ENDPOINT_AUTH_PARAMETER_${CONNECTION}_${key.toUpperCase()}`] = value;
  }
  for (const [key, value] of Object.entries(data)) {
    env[`ENDPOINT_DATA_${CONNECTION}_${key.toUpperCase()}`] = value;
  }
  return env;
}

// Run `code` in a fresh node process with `env`; it prints one JSON line last.
function evaluate(code, env) {
  return new Promise((resolve, reject) => {
    const script = `const h = require(${JSON.stringify(HANDLER)});\n(async () => {\n${code}\n})()` +
      '.then((r) => console.log("RESULT " + JSON.stringify(r)), (e) => console.log("ERROR " + e.message));';
    childProcess.execFile(process.execPath, ['-e', script], { env, cwd: TASK_DIR },
      (error, stdout, stderr) => {
        if (error) return reject(new Error(`${error.message}\n${stderr}`));
        const last = stdout.trim().split('\n').pop();
        resolve({ stdout, result: last.startsWith('RESULT ') ? JSON.parse(last.slice(7)) : undefined,
          error: last.startsWith('ERROR ') ? last.slice(6) : undefined });
      });
  });
}

function runHandler(env) {
  return new Promise((resolve) => {
    childProcess.execFile(process.execPath, [HANDLER], { env, cwd: TASK_DIR, timeout: 180000 },
      (error, stdout, stderr) => resolve({ code: error ? error.code : 0, stdout, stderr }));
  });
}

// -- task.json --------------------------------------------------------------------------------

test('task.json declares exactly the inputs the handler reads', () => {
  const task = JSON.parse(fs.readFileSync(path.join(TASK_DIR, 'task.json'), 'utf8'));
  const handler = require(HANDLER);
  assert.match(task.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(task.name, 'AzPublish');
  assert.equal(task.execution.Node20_1.target, 'index.js');
  assert.ok(fs.existsSync(path.join(TASK_DIR, task.execution.Node20_1.target)));
  const declared = task.inputs.map((input) => input.name);
  assert.deepEqual([...declared].sort(), [...handler.INPUTS].sort());
  for (const input of task.inputs) {
    assert.ok(input.label && input.helpMarkDown, `${input.name} needs a label and help`);
  }
  const connection = task.inputs.find((input) => input.name === 'azureSubscription');
  assert.equal(connection.type, 'connectedService:AzureRM');
  assert.ok(task.friendlyName.length <= 40, `friendlyName is ${task.friendlyName.length} characters; the limit is 40`);
  const build = task.inputs.find((input) => input.name === 'build');
  assert.deepEqual(Object.keys(build.options), ['remote', 'local', 'custom']);
});

test('package.json pins azure-pipelines-task-lib exactly, and the lock file agrees', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(TASK_DIR, 'package.json'), 'utf8'));
  const lock = JSON.parse(fs.readFileSync(path.join(TASK_DIR, 'package-lock.json'), 'utf8'));
  const pinned = pkg.dependencies['azure-pipelines-task-lib'];
  assert.match(pinned, /^\d+\.\d+\.\d+$/);
  assert.equal(lock.packages['node_modules/azure-pipelines-task-lib'].version, pinned);
});

test('vss-extension.json contributes the task folder it packages', () => {
  const extension = JSON.parse(fs.readFileSync(path.join(TASK_DIR, 'vss-extension.json'), 'utf8'));
  const [contribution] = extension.contributions;
  assert.equal(contribution.type, 'ms.vss-distributed-task.task');
  const folder = contribution.properties.name;
  const packaged = extension.files.map((f) => f.packagePath);
  assert.ok(packaged.includes(`${folder}/task.json`) && packaged.includes(`${folder}/index.js`));
  for (const file of extension.files) assert.ok(fs.existsSync(path.join(TASK_DIR, file.path)), file.path);
});

// -- inputs and the service connection ----------------------------------------------------------

test('inputs become AZPUBLISH_* variables; empty ones are left out; secrets are set secret', async () => {
  const { result, stdout } = await evaluate('return h.inputEnvironment();', agentEnv({
    INPUT_APPNAME: 'my-app', INPUT_BUILD: 'local', INPUT_SLOTNAME: '', INPUT_DRYRUN: 'true',
    INPUT_PIPEXTRAINDEXURL: 'https://u:idx-pass-123@127.0.0.1/simple',
  }));
  assert.deepEqual(result, {
    AZPUBLISH_APP: 'my-app', AZPUBLISH_BUILD: 'local', AZPUBLISH_DRY_RUN: 'true',
    AZPUBLISH_PIP_EXTRA_INDEX_URL: 'https://u:idx-pass-123@127.0.0.1/simple',
  });
  assert.ok(stdout.includes('##vso[task.setsecret]https://u:idx-pass-123@127.0.0.1/simple'));
});

test('a service principal connection sets AZURE_* and masks the secret', async () => {
  const { result, stdout } = await evaluate(`return h.credentialEnvironment('${CONNECTION}');`, agentEnv({
    ...endpoint('ServicePrincipal', { serviceprincipalid: 'client-1', serviceprincipalkey: 'sp-Secret-42', tenantid: 'tenant-1' },
      { subscriptionid: 'sub-1' }),
    [`ENDPOINT_URL_${CONNECTION}`]: 'https://management.azure.com/',
  }));
  assert.deepEqual(result, {
    AZURE_CLIENT_ID: 'client-1', AZURE_TENANT_ID: 'tenant-1', AZURE_CLIENT_SECRET: 'sp-Secret-42',
    AZPUBLISH_SUBSCRIPTION: 'sub-1',
  });
  assert.ok(stdout.includes('##vso[task.setsecret]sp-Secret-42'));
});

test('a connection to another cloud sets the ARM endpoint', async () => {
  const { result } = await evaluate(`return h.credentialEnvironment('${CONNECTION}');`, agentEnv({
    ...endpoint('ManagedServiceIdentity', {}, { subscriptionid: 'sub-2' }),
    [`ENDPOINT_URL_${CONNECTION}`]: 'https://management.chinacloudapi.cn/',
  }));
  assert.deepEqual(result, { AZPUBLISH_SUBSCRIPTION: 'sub-2',
    AZPUBLISH_ARM_ENDPOINT: 'https://management.chinacloudapi.cn' });
});

test('an unsupported scheme is refused with the ones that work', async () => {
  const { error } = await evaluate(`return h.credentialEnvironment('${CONNECTION}');`,
    agentEnv(endpoint('Certificate', {})));
  assert.match(error, /Certificate scheme.*ServicePrincipal.*WorkloadIdentityFederation/);
});

test('workload identity federation asks the agent for an OIDC token and writes it to a file', async (t) => {
  const requests = [];
  const server = http.createServer((request, response) => {
    requests.push({ url: request.url, method: request.method, auth: request.headers.authorization });
    response.setHeader('Content-Type', 'application/json');
    response.end(JSON.stringify({ oidcToken: 'federated.jwt.value' }));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const { port } = server.address();
  const { result, stdout } = await evaluate(`return h.credentialEnvironment('${CONNECTION}');`, agentEnv({
    ...endpoint('WorkloadIdentityFederation', { serviceprincipalid: 'client-3', tenantid: 'tenant-3' },
      { subscriptionid: 'sub-3' }),
    SYSTEM_OIDCREQUESTURI: `http://127.0.0.1:${port}/org/project/_apis/distributedtask/oidctoken`,
    ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN: 'job-access-token',
  }));
  assert.equal(result.AZURE_CLIENT_ID, 'client-3');
  assert.equal(result.AZURE_TENANT_ID, 'tenant-3');
  assert.equal(result.AZURE_CLIENT_SECRET, undefined);
  assert.equal(fs.readFileSync(result.AZURE_FEDERATED_TOKEN_FILE, 'utf8'), 'federated.jwt.value');
  assert.equal(fs.statSync(result.AZURE_FEDERATED_TOKEN_FILE).mode & 0o077, 0);
  assert.equal(requests.length, 1);
  assert.equal(requests[0].method, 'POST');
  assert.equal(requests[0].auth, 'Bearer job-access-token');
  const query = new URL(requests[0].url, 'http://x').searchParams;
  assert.equal(query.get('serviceConnectionId'), CONNECTION);
  assert.ok(stdout.includes('##vso[task.setsecret]federated.jwt.value'));
});

// -- end to end against the emulator -----------------------------------------------------------

function project(body) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'task-app-'));
  fs.writeFileSync(path.join(root, 'host.json'), '{"version": "2.0"}');
  fs.writeFileSync(path.join(root, 'function_app.py'), body);
  return root;
}

const HELLO = `import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="hello")
def hello(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("hello from the task")
`;

function emulatorAgent(app, root, extra = {}) {
  return agentEnv({
    // The agent's trust and the emulator's managed identity (the connection's scheme says MSI).
    IDENTITY_ENDPOINT: process.env.IDENTITY_ENDPOINT,
    IDENTITY_HEADER: process.env.IDENTITY_HEADER,
    REQUESTS_CA_BUNDLE: process.env.REQUESTS_CA_BUNDLE,
    AZPUBLISH_CA_BUNDLE: process.env.AZPUBLISH_CA_BUNDLE,
    ...endpoint('ManagedServiceIdentity', {}, { subscriptionid: process.env.AZPUBLISH_TASK_TEST_SUBSCRIPTION }),
    [`ENDPOINT_URL_${CONNECTION}`]: process.env.AZPUBLISH_TASK_TEST_ARM,
    INPUT_AZURESUBSCRIPTION: CONNECTION,
    INPUT_AZPUBLISHPATH: process.env.AZPUBLISH_TASK_TEST_CLI,
    INPUT_APPNAME: app,
    INPUT_PROJECTDIR: root,
    INPUT_BUILD: 'custom',
    ...extra,
  });
}

/** The output variables set, each of which must be set once, in both streams together. */
function outputsOf(result) {
  const found = {};
  for (const stream of [result.stdout, result.stderr]) {
    for (const match of stream.matchAll(/^##vso\[task\.setvariable variable=(\w+);isOutput=true(?:;[^\]]*)?\](.*)$/gm)) {
      assert.ok(!(match[1] in found), `${match[1]} is set twice`);
      found[match[1]] = match[2];
    }
  }
  return found;
}

test('publishes to the emulator and sets output variables', { skip: E2E }, async () => {
  const app = process.env.AZPUBLISH_TASK_TEST_APP;
  const result = await runHandler(emulatorAgent(app, project(HELLO)));
  assert.equal(result.code, 0, result.stderr);
  const outputs = outputsOf(result);
  assert.match(outputs.packageSha256, /^[0-9a-f]{64}$/);
  assert.ok(outputs.deploymentId);
  assert.equal(outputs.appUrl, process.env.AZPUBLISH_TASK_TEST_APP_URL);
  const [fn] = JSON.parse(outputs.functions);
  assert.equal(fn.name, 'hello');
  assert.ok(result.stdout.includes('##vso[task.complete result=Succeeded;]published'));
  // The CLI sets them (on stderr); the task does not set them again.
  assert.ok(result.stderr.includes(`##vso[task.setvariable variable=deploymentId;isOutput=true]${outputs.deploymentId}`));
  assert.ok(result.stderr.includes('##[group]azpublish: deploy (deployment log)'));
});

test('a broken project fails the task with an issue at the file and line', { skip: E2E }, async () => {
  const root = project('def broken(:\n');
  const secret = 'task-Index-Secret-77';
  const result = await runHandler(emulatorAgent(process.env.AZPUBLISH_TASK_TEST_BROKEN_APP, root, {
    BUILD_SOURCESDIRECTORY: root,
    INPUT_PIPEXTRAINDEXURL: `https://u:${secret}@127.0.0.1:9/simple`,
  }));
  assert.notEqual(result.code, null);
  assert.match(result.stderr, /^##vso\[task\.logissue type=error;sourcepath=function_app\.py;linenumber=1\]syntax error/m);
  assert.match(result.stderr, /^##vso\[task\.complete result=Failed;\]syntax error/m);
  assert.doesNotMatch(result.stdout, /task\.complete/);  // the CLI's result, said once
  assert.equal(outputsOf(result).deploymentId, '');
  // The secret is registered with the agent before the CLI runs, and the CLI never prints it.
  const setsecret = result.stdout.indexOf(`##vso[task.setsecret]https://u:${secret}@127.0.0.1:9/simple`);
  assert.ok(setsecret >= 0);
  assert.ok(result.stderr.startsWith(`##vso[task.setsecret]${secret}\n`));
  assert.ok(!result.stderr.split('\n').slice(1).join('\n').includes(secret));
});
