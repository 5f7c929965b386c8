// The AzPublish task: read the task's inputs and its AzureRM service connection, turn them into
// AZPUBLISH_* and AZURE_* environment variables, run the azpublish CLI, publish its outputs.
// All publishing logic lives in the CLI; with TF_BUILD=True it prints its own ##vso commands
// (secrets, issues with file and line, task.complete on failure) on stderr, passed through here.
'use strict';

const childProcess = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const tl = require('azure-pipelines-task-lib/task');

// task.json input -> the CLI's environment variable (settings.OPTIONS in azpublish).
const INPUT_VARIABLES = {
  appName: 'AZPUBLISH_APP',
  resourceGroupName: 'AZPUBLISH_RESOURCE_GROUP',
  subscription: 'AZPUBLISH_SUBSCRIPTION',
  slotName: 'AZPUBLISH_SLOT',
  projectDir: 'AZPUBLISH_PROJECT_DIR',
  build: 'AZPUBLISH_BUILD',
  pythonVersion: 'AZPUBLISH_PYTHON_VERSION',
  publishProfile: 'AZPUBLISH_PUBLISH_PROFILE',
  pipExtraIndexUrl: 'AZPUBLISH_PIP_EXTRA_INDEX_URL',
  dryRun: 'AZPUBLISH_DRY_RUN',
  timeout: 'AZPUBLISH_TIMEOUT',
  verifyUrl: 'AZPUBLISH_VERIFY_URL',
  package: 'AZPUBLISH_PACKAGE',
  plan: 'AZPUBLISH_PLAN',
};
const SECRET_INPUTS = ['publishProfile', 'pipExtraIndexUrl'];
const CONNECTION_INPUT = 'azureSubscription';
const CLI_INPUT = 'azpublishPath';
// Every input the handler reads: task.json must declare exactly these (the tests check).
const INPUTS = [CONNECTION_INPUT, CLI_INPUT, ...Object.keys(INPUT_VARIABLES)];

const PUBLIC_ARM = /^https:\/\/management\.azure\.com\/?$/i;
const OIDC_API_VERSION = '7.1';

/** AZURE_* variables for DefaultAzureCredential from the AzureRM service connection. */
async function credentialEnvironment(connection) {
  const env = {};
  const scheme = tl.getEndpointAuthorizationScheme(connection, true) || '';
  const subscription = tl.getEndpointDataParameter(connection, 'subscriptionid', true);
  if (subscription) env.AZPUBLISH_SUBSCRIPTION = subscription;
  const armUrl = tl.getEndpointUrl(connection, true);
  if (armUrl && !PUBLIC_ARM.test(armUrl)) env.AZPUBLISH_ARM_ENDPOINT = armUrl.replace(/\/+$/, '');

  if (scheme === 'ServicePrincipal') {
    const secret = tl.getEndpointAuthorizationParameter(connection, 'serviceprincipalkey', true);
    if (!secret) {
      throw new Error(`service connection ${connection} has no service principal key: use a ` +
        'secret, or switch the connection to workload identity federation');
    }
    tl.setSecret(secret);
    env.AZURE_CLIENT_ID = tl.getEndpointAuthorizationParameter(connection, 'serviceprincipalid', false);
    env.AZURE_TENANT_ID = tl.getEndpointAuthorizationParameter(connection, 'tenantid', false);
    env.AZURE_CLIENT_SECRET = secret;
  } else if (scheme === 'WorkloadIdentityFederation') {
    env.AZURE_CLIENT_ID = tl.getEndpointAuthorizationParameter(connection, 'serviceprincipalid', false);
    env.AZURE_TENANT_ID = tl.getEndpointAuthorizationParameter(connection, 'tenantid', false);
    env.AZURE_FEDERATED_TOKEN_FILE = await writeFederatedToken(connection);
  } else if (scheme !== 'ManagedServiceIdentity') {
    // ManagedServiceIdentity: the agent's own identity, found by DefaultAzureCredential itself.
    throw new Error(`service connection ${connection} uses the ${scheme || 'unknown'} scheme; ` +
      'azpublish supports ServicePrincipal (secret), WorkloadIdentityFederation and ' +
      'ManagedServiceIdentity');
  }
  return env;
}

/** Ask the agent's OIDC endpoint for the connection's federated token; write it to a file. */
async function writeFederatedToken(connection) {
  const requestUri = tl.getVariable('System.OidcRequestUri');
  const accessToken = tl.getEndpointAuthorizationParameter('SystemVssConnection', 'AccessToken', true)
    || tl.getVariable('System.AccessToken');
  if (!requestUri || !accessToken) {
    throw new Error('workload identity federation needs the agent\'s OIDC endpoint ' +
      '(System.OidcRequestUri) and System.AccessToken: run on an agent that provides them');
  }
  const url = new URL(requestUri);
  url.searchParams.set('api-version', OIDC_API_VERSION);
  url.searchParams.set('serviceConnectionId', connection);
  const response = await fetch(url, {
    method: 'POST',
    headers: { Authorization: `Bearer ${accessToken}`, 'Content-Type': 'application/json' },
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok || typeof body.oidcToken !== 'string' || !body.oidcToken) {
    throw new Error(`the agent's OIDC endpoint answered ${response.status} without a token for ` +
      `service connection ${connection}`);
  }
  tl.setSecret(body.oidcToken);
  const temp = tl.getVariable('Agent.TempDirectory') || os.tmpdir();
  const folder = fs.mkdtempSync(path.join(temp, 'azpublish-'));
  const file = path.join(folder, 'federated-token');
  fs.writeFileSync(file, body.oidcToken, { mode: 0o600 });
  return file;
}

/** AZPUBLISH_* from the task's inputs (empty inputs are left out: the CLI's defaults apply). */
function inputEnvironment() {
  const env = {};
  for (const [input, variable] of Object.entries(INPUT_VARIABLES)) {
    const value = tl.getInput(input, false);
    if (value === undefined || value === null || value === '') continue;
    if (SECRET_INPUTS.includes(input)) tl.setSecret(value);
    env[variable] = value;
  }
  return env;
}

/** The environment the CLI runs in: the agent's, without the task's raw inputs and endpoints. */
function childEnvironment(extra) {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(INPUT_|ENDPOINT_|SECRET_|SECUREFILE_)/.test(key)) continue;
    env[key] = value;
  }
  return { ...env, TF_BUILD: 'True', AZPUBLISH_JSON: 'true', ...extra };
}

function findCli() {
  const configured = tl.getInput(CLI_INPUT, false);
  if (configured) return configured;
  const found = tl.which('azpublish', false);
  if (!found) {
    throw new Error('azpublish is not on PATH: install it in an earlier step (pip install ' +
      'azpublish) or set the azpublishPath input');
  }
  return found;
}

/** Run the CLI: stderr (human lines and ##vso commands) passes through; stdout is the report. */
function runCli(cli, env) {
  return new Promise((resolve, reject) => {
    const child = childProcess.spawn(cli, [], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    const chunks = [];
    child.stdout.on('data', (chunk) => chunks.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(chunks).toString('utf8') }));
  });
}

async function run() {
  try {
    const connection = tl.getInput(CONNECTION_INPUT, false);
    const credentials = connection ? await credentialEnvironment(connection) : {};
    // An explicit subscription input wins over the connection's.
    const env = childEnvironment({ ...credentials, ...inputEnvironment() });
    const { code, stdout } = await runCli(findCli(), env);
    // The CLI's report ends with its own output variables and, on failure, its task result
    // (TF_BUILD=True): set here again they would appear twice. Only a CLI that ended before
    // its report (bad usage, a crash) leaves the result to the task.
    let reported = false;
    try {
      reported = typeof JSON.parse(stdout) === 'object';
    } catch {
      reported = false;
    }
    if (code === 0) {
      tl.setResult(tl.TaskResult.Succeeded, 'published');
    } else if (!reported) {
      tl.setResult(tl.TaskResult.Failed, `azpublish failed (exit ${code}) before its report: see the log above`);
    } else {
      process.exitCode = 1;
    }
  } catch (error) {
    tl.setResult(tl.TaskResult.Failed, error.message);
  }
}

module.exports = {
  INPUTS, INPUT_VARIABLES, credentialEnvironment, inputEnvironment,
  run,
};

if (require.main === module) {
  run();
}
