// A panel built on @awesomeorganization/hawkbit-ddi (npm), the library's own code unmodified:
// what a vendor's Node.js firmware agent does with it. Driven by tests/clients/test_hawkbit_ddi.py.
//
// node hawkbit_ddi_driver.mjs <config.json>; config: url, tenant, controllerId, targetToken or
// gatewayToken, artifactsPath, attributes, outcome (success | failure | acknowledge-cancel |
// reject-cancel | register), polls (most polls before giving up). One JSON line per step on stdout.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { createInterface } from 'node:readline'

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const require = createRequire(path.join(config.modules, 'package.json'))
const { hawkBitDDI, constants } = await import(require.resolve('@awesomeorganization/hawkbit-ddi'))

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]()
const say = (step, extra = {}) => console.log(JSON.stringify({ step, ...extra }))
const check = (what, result) => {
  if (result instanceof Error) {
    say('error', { what, message: result.message })
    process.exit(1)
  }
  return result
}

const { polling } = await hawkBitDDI({
  artifactsPath: config.artifactsPath,
  controllerId: config.controllerId,
  downloadField: 'download-http',
  gatewayToken: config.gatewayToken,
  hashAlgorithm: constants.hashes.sha256,
  targetToken: config.targetToken,
  tenant: config.tenant,
  url: config.url,
})

for (let poll = 0; poll < config.polls; poll += 1) {
  const { action, methods } = check('poll', await polling())
  say('poll', { action: action ?? null })
  if (action === 'configData') {
    check('configData', await methods.put({
      data: config.attributes, details: ['identify'], execution: constants.execution.closed,
      finished: constants.finished.success, mode: constants.mode.merge,
    }))
    say('configData')
    if (config.outcome === 'register') process.exit(0)
  } else if (action === 'deploymentBase') {
    const base = check('deploymentBase', await methods.get())
    const [artifact] = base.deployment.chunks[0].artifacts
    // The library sends `progress: {cnt, of}`, `{}` when the agent gives no count.
    check('feedback', await methods.postFeedback({
      details: ['downloading'], execution: constants.execution.proceeding, finished: constants.finished.none,
    }))
    if (config.outcome.endsWith('cancel')) {
      say('waiting') // the test cancels the action while it downloads, then sends a line
      await lines.next()
      continue
    }
    const resumedAt = check('download', await methods.downloadArtifact(artifact))
    say('downloaded', { id: base.id, resumedAt, size: artifact.size })
    check('feedback', await methods.postFeedback({
      cnt: artifact.size, details: ['downloaded'], execution: constants.execution.downloaded,
      finished: constants.finished.none, of: artifact.size,
    }))
    check('feedback', await methods.postFeedback({
      details: ['installing'], execution: constants.execution.proceeding, finished: constants.finished.none,
    }))
    const failed = config.outcome === 'failure'
    check('feedback', await methods.postFeedback({
      details: [failed ? 'signature check failed' : 'installed'], execution: constants.execution.closed,
      finished: failed ? constants.finished.failure : constants.finished.success,
    }))
    say('closed', { outcome: config.outcome })
    process.exit(0)
  } else if (action === 'cancelAction') {
    const cancel = check('cancelAction', await methods.get())
    const refused = config.outcome === 'reject-cancel'
    check('cancelFeedback', await methods.postFeedback({
      details: [refused ? 'busy: too late to cancel' : 'cancelled'],
      execution: refused ? constants.execution.rejected : constants.execution.closed,
      finished: constants.finished.success,
    }))
    say('cancel', { stopId: cancel.cancelAction.stopId, refused })
    if (!refused) process.exit(0)
    config.outcome = 'success'
  }
}
say('error', { what: 'polls', message: `no outcome after ${config.polls} polls` })
process.exit(1)
